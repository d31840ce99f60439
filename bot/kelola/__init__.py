"""The web console for coordinators, satgas, organisers and observers (/kelola)."""
