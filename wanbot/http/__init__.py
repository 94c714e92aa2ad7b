"""The bot's own HTTP side: the operators' server (/healthz, /metrics, /hooks) and client traces."""
