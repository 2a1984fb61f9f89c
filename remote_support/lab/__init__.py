"""The practice lab and its emulated peers: a product feature beside the core, not part of it.

``sshd`` runs real OpenSSH hosts on loopback, ``netlab`` emulated switches (fake-switches in its own
venv), ``winlab`` WinRM endpoints served by ``winrm_server`` (a protocol-level WinRM server).
"""

from .sshd import SSHD, Lab, LabError, LabHost, LabHostStatus, host_address, host_name

__all__ = ["SSHD", "Lab", "LabError", "LabHost", "LabHostStatus", "host_address", "host_name"]
