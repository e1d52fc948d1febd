"""SQL over asyncpg. Functions take a connection and never commit; services own transactions."""
