"""The run register: official runs kept in a database, compared, reproduced; payments made."""
