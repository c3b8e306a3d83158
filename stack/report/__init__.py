"""Latency budget reports: tables, JSON, HTML with plots, Perfetto export."""
