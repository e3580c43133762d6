"""The Python target: compiles scenario IR into asyncio source and runs it on the virtual-time loop."""
