"""The device inventory: every host the sensors saw, with its role on the site and its alerts."""
