"""Lambda layers: our gui_core package and the third-party dependencies, from the manifest.

Both kinds ship bytecode compiled by the runtime's Python version when the build machine has it
(`stacks.bytecode`): `core` from a compiled copy of layers/core under .build/code/core.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.bytecode import staged_core_layer
from stacks.layer_build import build_layer
from stacks.manifest_model import Layer, Manifest
from stacks.naming import pascal_case

# The built folders hold no bytecode but the runtime version's (stacks.bytecode), which is kept.
ASSET_EXCLUDE = ["**/.mypy_cache", "**/.pytest_cache"]


class Layers(Construct):
    """One LayerVersion per manifest layer, by name (`layers["core"]`, `layers["deps"]`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        manifest: Manifest,
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
    ) -> None:
        super().__init__(scope, construct_id)
        self.layers: dict[str, lambda_.LayerVersion] = {}
        for layer in manifest.layers:
            self.layers[layer.name] = lambda_.LayerVersion(
                self,
                pascal_case(layer.name),
                code=lambda_.Code.from_asset(str(_source(layer)), exclude=ASSET_EXCLUDE),
                compatible_runtimes=[runtime],
                compatible_architectures=[architecture],
                description=layer.purpose,
            )

    def __getitem__(self, name: str) -> lambda_.LayerVersion:
        return self.layers[name]


def _source(layer: Layer) -> Path:
    if layer.source == "core":
        return staged_core_layer()
    if layer.source == "requirements":
        return build_layer(layer)
    raise ValueError(f"layer {layer.name!r} has an unknown source {layer.source!r}")
