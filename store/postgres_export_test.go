package store

// PostgresSamePool reports whether two handles share one pool.
func PostgresSamePool(a, b *Postgres) bool { return a.pool == b.pool }
