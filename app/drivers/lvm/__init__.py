"""The LVM driver: volumes are logical volumes of one volume group, thick or in a thin
pool (`driver.py`); the commands it runs (`commands.py`) and the reports it reads
(`reports.py`) are kept apart so both are tested without a volume group."""
