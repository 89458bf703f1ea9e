"""On-demand list prices shipped with the package (USD per hour, Linux, us-east-1).

A small dated table, not a live price feed: override it with ``--gpubench-ec2-price``,
``GPUBENCH_EC2_PRICE_PER_HOUR`` or a JSON file named by ``GPUBENCH_EC2_PRICE_FILE``.
"""

AS_OF = "2026-11-26"
REGION = "us-east-1"
SOURCE = (
    "AWS EC2 On-Demand pricing page (aws.amazon.com/ec2/pricing/on-demand/), Linux, "
    "us-east-1; table written 2026-11-26 from published list prices, not re-checked live"
)

ON_DEMAND_USD_PER_HOUR: dict[str, float] = {
    "g4dn.xlarge": 0.526,
    "g4dn.2xlarge": 0.752,
    "g5.xlarge": 1.006,
    "g5.2xlarge": 1.212,
    "g6.xlarge": 0.8048,
    "p3.2xlarge": 3.06,
    # Previous generation, no longer offered in most regions; kept for old reports.
    "g2.2xlarge": 0.65,
}
