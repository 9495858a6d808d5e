"""Workstation posture checks (antivirus, updates, disk encryption, screen lock, firewall…).

A pure library: no Django, no environment reads, no printing. It may import `egide.crypto` only.

Entry points: `catalogue.inspect(probe, system)` runs the checks of `linux`, `windows` or `macos`
and returns one `result.CheckResult` per check; `probe.Probe` carries what a check may use (the
`runner.CommandRunner`, the clock, the daily user, the files' root, the `Policy`);
`report.build_report` / `report.read_report` write and validate the report format v1 sent to the
console by `delivery.send_report`. See docs/posture.md.
"""
