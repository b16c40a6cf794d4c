"""`appliance demo`: the whole box on this machine, fed by the simulator's office network."""

# `appliance demo`'s defaults: the office's "mixed" scenario, new traffic in 600 s segments replayed as recorded
# (a faster replay compresses time, and a 60 s poll at 10x is a 6 s beacon: another network), after an hour of
# the office's ordinary history read for the baseline to learn (its scanners, automation and rhythms: the
# discovery sweep runs every two hours at :03, the playbooks at :00 and :30, the history starts at 14:00).
DEMO_SCENARIO, DEMO_SEED, DEMO_SEGMENT_S, DEMO_SPEED, DEMO_LEARNING_S = "mixed", 7, 600.0, 1.0, 3600.0
