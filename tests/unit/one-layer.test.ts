import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { oneLayer } from '../../src/http/middleware/one-layer.js';

/** Steps folded into one Express layer behave as the same steps as separate layers would. */

const req = {} as Request;
const res = {} as Response;

function record(seen: string[], name: string, after: (next: NextFunction) => void = (next) => next()): RequestHandler {
  return (_req, _res, next) => {
    seen.push(name);
    after(next);
  };
}

/** Runs the layer; resolves with what reached the layer's own `next` (undefined: nothing did). */
function run(layer: RequestHandler): Promise<{ went: boolean; err: unknown }> {
  return new Promise((resolve) => {
    void layer(req, res, (err?: unknown) => resolve({ went: true, err }));
    setImmediate(() => resolve({ went: false, err: undefined }));
  });
}

describe('oneLayer', () => {
  test('runs every step in order, then goes on', async () => {
    const seen: string[] = [];
    const got = await run(oneLayer(record(seen, 'a'), record(seen, 'b'), record(seen, 'c')));
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(got).toEqual({ went: true, err: undefined });
  });

  test('a step that answers ends the walk: later steps do not run and the layer does not go on', async () => {
    const seen: string[] = [];
    const got = await run(
      oneLayer(
        record(seen, 'a'),
        record(seen, 'answers', () => undefined),
        record(seen, 'c'),
      ),
    );
    expect(seen).toEqual(['a', 'answers']);
    expect(got.went).toBe(false);
  });

  test("a step's error is handed on, and later steps do not run", async () => {
    const seen: string[] = [];
    const failure = new Error('refused');
    const got = await run(
      oneLayer(
        record(seen, 'a', (next) => next(failure)),
        record(seen, 'b'),
      ),
    );
    expect(seen).toEqual(['a']);
    expect(got).toEqual({ went: true, err: failure });
  });

  test('a step that goes on later carries the walk on from there, once', async () => {
    const seen: string[] = [];
    const layer = oneLayer(
      record(seen, 'a'),
      record(seen, 'later', (next) => setTimeout(() => next(), 1)),
      record(seen, 'c'),
    );
    const got = await new Promise<{ went: boolean; err: unknown }>((resolve) => void layer(req, res, (err?: unknown) => resolve({ went: true, err })));
    expect(seen).toEqual(['a', 'later', 'c']);
    expect(got).toEqual({ went: true, err: undefined });
  });
});
