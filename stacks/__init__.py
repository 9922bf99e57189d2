"""The CDK app of the GUI backend: one regional stack per region, rendered from `manifest`.

Only `manifest` may be imported without aws-cdk-lib: the local runtime and the tests load it alone.
"""
