"""EC2 as a provider of the shared remote layer (``pytest_gpubench.remote``).

Modules, one job each: ``provider`` (``Ec2Provider``: up creates, down always destroys),
``session`` (what a session created, and what it calls out to), ``settings`` (the options,
checked before anything is launched), ``resources`` (key pair, security group, tags),
``ami`` (image lookup), ``launch`` (zones, spot, faults), ``faults`` (error codes,
backoff), ``pricing`` and ``prices`` (the price per hour), ``ledger`` (local record for
crash cleanup), ``sweep`` (expired leftovers), ``plugin`` (pytest options, hooks and the
fixture). SSH, the remote job and the cost line are the shared layer's. boto3 and paramiko
are imported only by the modules that need them: ``pip install 'pytest-gpubench[ec2]'``.
"""

INSTALL_HINT = "pip install 'pytest-gpubench[ec2]'"
