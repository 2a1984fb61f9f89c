"""The same four steps for pyinfra (benchmarks/task.py runs `pyinfra INVENTORY deploy.py -y`)."""

from pyinfra import host
from pyinfra.operations import files, server

dest = f"{host.data.dest_dir}/{host.name}.conf"
server.shell(name="kernel", commands=["uname -a"])
files.template(name="config", src="bench.conf.j2", dest=dest, run_number=host.data.run_number, inventory_hostname=host.name)
server.shell(name="count lines", commands=[f"wc -l {dest}"])
server.shell(name="uptime", commands=["uptime"])
