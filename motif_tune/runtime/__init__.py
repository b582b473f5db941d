"""Ray and the process: starting or joining Ray, resources and what fits, the logging
of driver and workers, work beside the main thread, what stays out of the home folder."""
