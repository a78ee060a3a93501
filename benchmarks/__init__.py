"""`make bench`: serving speed of the service against a naive seed-style server and a bare Flask ceiling."""
