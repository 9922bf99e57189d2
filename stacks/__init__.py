"""The CDK app of the GUI backend: one regional stack per region, rendered from `manifest`.

`manifest`, `config`, `cors` and `source_filters` import no aws-cdk-lib: the local runtime and the
tests load them alone. The rest is the CDK rendering.
"""
