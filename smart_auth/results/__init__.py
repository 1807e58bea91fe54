"""Results without an account (F9): a result code and the national ID open one report."""
