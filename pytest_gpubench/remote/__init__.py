"""What every cloud shares: a provider interface, SSH, the remote job, the cost line.

Modules, one job each: ``provider`` (the interface a cloud implements: up, down, sweep,
price), ``lifecycle`` (one rented machine for a ``with`` block, always torn down), ``ssh``
(paramiko), ``upload`` (the git checkout sent), ``job`` (install and run pytest there,
fetch), ``selection`` (the tests and options sent), ``driver`` (a pytest session run
remotely), ``document`` (its results kept here), ``summary`` (the cloud record and its one
line), ``mode`` (whether this session runs remotely), ``errors``. Nothing here imports a
cloud's SDK or a provider package; paramiko is imported only where a connection is made.
"""
