"""The native backend: the IR compiled to C by the system compiler, loaded with ctypes."""
