"""Minors' data rights: retention per org with a purge job, export and erasure of one contact, phone-access audit."""
