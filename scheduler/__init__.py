"""Planning what to send when, the outbox sender, and the periodic jobs. Imports core."""
