"""`appliance demo`: the whole box on this machine, fed by the simulator's office network."""
