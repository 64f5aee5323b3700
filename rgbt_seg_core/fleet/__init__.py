"""Many bags, one report: bags and their time shards run by an executor (in-process, or Dask with the ``[fleet]``
extra), cached per shard, summed into one exact report."""
