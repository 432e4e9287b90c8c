"""The rescue: the map (what is where), the mapfile (its on-disk form) and the engine.

rescuemap   RescueMap: blocks with ddrescue's statuses; position, phase and pass
mapfile     reading and writing GNU ddrescue mapfiles
domain      Domain: the ranges a run may read, and the map seen through them
options     RescueOptions; profiles: named sets of them
reader      StreamReader: runs of reads in a worker thread, with timeouts
engine      Engine: runs the plan of phases (phases/: one module per phase)
state       RunState: what the phases of one run share, and `stream`, the way they read
recorder    ReadRecorder: what a good or failed read leaves in the sink, map and counters
rate        RateMeter: current and average rates, remaining time, the Progress event
recovery    reopening the source, the `recover` hook (power cycles)
steering    pauses, stops, limits and option changes as a run obeys them
saving      MapSaver: the sink synced, then the map saved
areas       AreaTracker: what pass 1 learns about bad areas
outcome     Outcome, RunResult, and Stop (ends a run from anywhere inside it)
"""
