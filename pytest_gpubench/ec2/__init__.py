"""Run gpubench on a rented EC2 GPU instance that is always torn down.

Modules, one job each: ``session`` (the lifecycle as one context manager), ``resources``
(key pair, security group, tags), ``ami`` (image lookup), ``launch`` (zones, spot,
faults), ``remote`` (SSH), ``job`` (the benchmark run on the instance), ``pricing``
(cost), ``ledger`` (local record for crash cleanup), ``sweep`` (expired leftovers),
``plugin`` (pytest options and hooks). boto3 and paramiko are imported only by the
modules that need them: ``pip install 'pytest-gpubench[ec2]'``.
"""

INSTALL_HINT = "pip install 'pytest-gpubench[ec2]'"
