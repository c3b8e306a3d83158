"""Latency budget reports: tables, JSON, HTML with plots, Perfetto export.

analysis = analyze(RunDir(path))
print_report(analysis); report_json(analysis); write_html(analysis, f); write_perfetto(analysis, f)
"""
