"""Load benchmark for the WhatsApp webhook (see bench/README.md)."""
