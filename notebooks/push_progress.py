"""Push progress into notebooks through Redis, from any process: no socket, no Jupyter needed.

Start the Jupyter server(s) with the Redis adapter, and show a widget in a room of ``/hub``::

    jupyter lab --RealtimeApp.redis_url=redis://localhost:6379/0

    # in a notebook on that server (see 05-scaling-with-redis.ipynb)
    from jupyter_rt.widgets import RealtimeClient
    hub = RealtimeClient(rooms=["training"])

Then, from a terminal, a training script, a cron job...::

    python push_progress.py --redis redis://localhost:6379/0 --room training --steps 20

Every server on that Redis (and ``--prefix``, the servers' ``c.RealtimeApp.redis_prefix``)
delivers each ``progress`` event to the clients in the room:
``{"step": 3, "total": 20, "fraction": 0.15, "message": "step 3 of 20"}``.
Pub/sub is at-most-once: an event published while no server listens is lost, so the script
prints how many servers received each one.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from jupyter_rt.adapters.redis import Emitter


async def push(
    redis_url: str,
    room: str,
    steps: int,
    delay: float,
    *,
    namespace: str = "/hub",
    prefix: str = "socket.io",
    event: str = "progress",
) -> int:
    """Emit ``steps`` progress events to ``room``; return how many had no server listening."""
    unheard = 0
    async with Emitter(redis_url, prefix=prefix) as emitter:
        target = emitter.of(namespace).to(room)
        for step in range(1, steps + 1):
            await asyncio.sleep(delay)  # the work being measured goes here
            update = {
                "step": step,
                "total": steps,
                "fraction": round(step / steps, 4),
                "message": f"step {step} of {steps}",
            }
            servers = await target.emit(event, update)
            unheard += servers == 0
            print(f"{update['message']}: {servers} server(s) got it", flush=True)
    return unheard


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", default="redis://localhost:6379/0", help="Redis URL")
    parser.add_argument("--room", default="training", help="room of the namespace")
    parser.add_argument("--namespace", default="/hub", help="namespace (default /hub)")
    parser.add_argument("--prefix", default="socket.io", help="the servers' redis_prefix")
    parser.add_argument("--event", default="progress", help="event name")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.5, help="seconds between steps")
    args = parser.parse_args(argv)
    unheard = asyncio.run(
        push(
            args.redis,
            args.room,
            args.steps,
            args.delay,
            namespace=args.namespace,
            prefix=args.prefix,
            event=args.event,
        )
    )
    if unheard:
        print(
            f"{unheard} event(s) reached no server: is a Jupyter server running with "
            f"--RealtimeApp.redis_url={args.redis} (and this --prefix)?",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
