"""Warm model workers: processes with litellm imported that later runs reuse over a Unix socket.

``service`` (settings, the private directory, the key, spawning), ``protocol`` (the frames),
``server`` (the worker process), ``client`` (a run's side), ``control`` (``promptctl worker
status|stop``). Nothing here imports litellm in the calling process.
"""
