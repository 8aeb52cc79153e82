"""Pure domain logic: no I/O, no trio; time is passed in as epoch milliseconds."""
