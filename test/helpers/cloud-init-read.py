"""Reads a NoCloud seed directory with cloud-init's own code (PYTHONPATH: an extracted cloud-init
package) and prints what cloud-init makes of it, as JSON: the files the NoCloud datasource
collects, the user-data parts after cloud-init's MIME processing, the cloud-config's schema
problems, the network-config rendered as ifupdown (ENI), and the meta-data."""
import json
import sys

from cloudinit import user_data, util
from cloudinit.config import schema
from cloudinit.net import eni, network_state

seed = sys.argv[1]
# What DataSourceNoCloud's mount callback does with a mounted cidata volume.
files = util.pathprefix2dict(seed, required=["user-data", "meta-data"], optional=["vendor-data", "network-config"])
msg = user_data.UserDataProcessor({}).process(files["user-data"])
parts = [
    {"type": p.get_content_type(), "filename": p.get_filename(), "payload": p.get_payload(decode=True).decode()}
    for p in msg.walk()
    if p.get_content_maintype() != "multipart"
]
config = util.load_yaml(next(p["payload"] for p in parts if p["type"] == "text/cloud-config"))
errors, deprecations = [], []
try:
    schema.validate_cloudconfig_schema(config, schema.get_schema(), strict=True)
except schema.SchemaValidationError as e:
    errors = [f"{p.path}: {p.message}" for p in e.schema_errors]
    deprecations = [p.path for p in e.schema_deprecations]
net = None
if "network-config" in files:
    state = network_state.parse_net_config_data(util.load_yaml(files["network-config"]))
    net = eni.Renderer()._render_interfaces(state)
print(json.dumps({
    "files": sorted(files),
    "parts": parts,
    "config": config,
    "schema_errors": errors,
    "schema_deprecations": deprecations,
    "eni": net,
    "meta": util.load_yaml(files["meta-data"]),
}))
