"""Pure accounting rules: money, identifiers, balancing. No I/O here."""
