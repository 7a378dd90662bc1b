// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

/**
 * What the `/hub` app answers, read leniently: an ack is a failure when its first value
 * is an object with a truthy `error` (a string, or an object with a `message`), or with
 * `ok: false`. Anything else is a success.
 */
export function ackError(resp: unknown[]): string | null {
  const first = resp[0];
  if (first === null || typeof first !== 'object' || Array.isArray(first)) {
    return null;
  }
  const obj = first as Record<string, unknown>;
  if (obj.error) {
    const error = obj.error;
    if (typeof error === 'object' && error !== null && 'message' in error) {
      return String((error as { message: unknown }).message);
    }
    return String(error);
  }
  if (obj.ok === false) {
    return String(obj.message ?? obj.reason ?? 'refused');
  }
  return null;
}

/** One row of the rooms table. */
export interface IRoomRow {
  namespace: string;
  room: string;
  /** Member count, or `null` when the server gave none. */
  members: number | null;
}

function count(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value)) {
    return value;
  }
  if (Array.isArray(value)) {
    return value.length;
  }
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    for (const key of ['count', 'size', 'members', 'sockets']) {
      if (key in obj) {
        return count(obj[key]);
      }
    }
  }
  return null;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Turn a `rooms()` answer into rows. Accepted shapes:
 * - `[{namespace, room, members|count|size}, …]` (`nsp`/`name` also accepted);
 * - `{namespace: {room: count | [sid, …]}}`;
 * - `{room: count | [sid, …]}` or `[room, …]` (rooms of `defaultNamespace`);
 * - `{rooms: <any of the above>}`.
 */
export function roomRows(value: unknown, defaultNamespace: string): IRoomRow[] {
  const rows: IRoomRow[] = [];
  if (isPlainObject(value) && 'rooms' in value && Object.keys(value).length <= 2) {
    return roomRows(value.rooms, defaultNamespace);
  }
  if (Array.isArray(value)) {
    for (const item of value) {
      if (typeof item === 'string') {
        rows.push({ namespace: defaultNamespace, room: item, members: null });
      } else if (isPlainObject(item)) {
        const namespace = String(item.namespace ?? item.nsp ?? defaultNamespace);
        const room = String(item.room ?? item.name ?? '');
        const members = count(item.members ?? item.count ?? item.size ?? null);
        rows.push({ namespace, room, members });
      }
    }
  } else if (isPlainObject(value)) {
    const entries = Object.entries(value);
    const nested = entries.length > 0 && entries.every(([, v]) => isPlainObject(v));
    if (nested) {
      for (const [namespace, rooms] of entries) {
        for (const [room, members] of Object.entries(rooms as Record<string, unknown>)) {
          rows.push({ namespace, room, members: count(members) });
        }
      }
    } else {
      for (const [room, members] of entries) {
        rows.push({ namespace: defaultNamespace, room, members: count(members) });
      }
    }
  }
  rows.sort((a, b) =>
    a.namespace === b.namespace
      ? a.room.localeCompare(b.room)
      : a.namespace.localeCompare(b.namespace)
  );
  return rows;
}
