"""Background workers: the job engine and the orphan sweep. Lease loops on database rows."""
