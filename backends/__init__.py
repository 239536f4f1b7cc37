"""Where programs run. The PJRT clients (cpu from jaxlib; cuda, rocm and tpu from plugins), device
storage behind `dsl.Array`, and compiled executables arrive with the Lowering issue; until then
programs run on the host through the evaluate interpreter."""

__all__: list[str] = []
