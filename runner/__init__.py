"""asyncparity: one YAML async scenario, three idiomatic programs, compared on one virtual clock."""
