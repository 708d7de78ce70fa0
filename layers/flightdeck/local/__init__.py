"""The platform on one machine: embedded Postgres, the in-process AWS emulator, the dev runner."""
