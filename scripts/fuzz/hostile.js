// Hostile JS values for the fuzzer: fast-check arbitraries for values of
// every type and shape, and ways to corrupt a valid argument so that the
// call gets past the first checks (proxies and getters that answer
// differently on a second read, lists that grow while read, holes, BigInt,
// symbols, throwing getters, shared and detached buffers).
'use strict';
const fc = require('fast-check');

/** Marks the exceptions the fuzzer's own getters and traps throw: they must reach the caller unchanged. */
const kHostile = Symbol('fuzz.hostile');

function hostileError() {
  return Object.assign(new Error('thrown by a hostile getter'), { [kHostile]: true });
}

function isHostileError(e) {
  return e !== null && typeof e === 'object' && e[kHostile] === true;
}

/** mulberry32: the structural choices of one call, from its seed. */
class Rng {
  constructor(seed) {
    this.state = seed >>> 0;
  }

  next() {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(lo, hi) {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p) {
    return this.next() < p;
  }

  pick(items) {
    return items[Math.floor(this.next() * items.length)];
  }

  seed() {
    return Math.floor(this.next() * 0x7fffffff);
  }
}

// A value made anew for every use (one object shared between calls would
// carry state from one to the next). fast-check samples the recipe: it
// inspects what it generates, and a throwing proxy would throw at it.
class Fresh {
  constructor(make) {
    this.make = make;
  }
}
const fresh = (make) => fc.constant(new Fresh(make));

const interestingNumbers = [
  0,
  -0,
  1,
  -1,
  2,
  3,
  0.5,
  -0.5,
  1.5,
  NaN,
  Infinity,
  -Infinity,
  2 ** 23,
  2 ** 23 + 1,
  2 ** 31 - 1,
  2 ** 31,
  -(2 ** 31),
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  1e-50,
  1e-45,
  1e-30,
  1e30,
  0.9999999,
  1.0000001,
];

const numbers = fc.oneof(fc.constantFrom(...interestingNumbers), fc.integer({ min: -10, max: 300 }), fc.double());

const primitives = fc.oneof(
  numbers,
  fc.constantFrom(0n, 1n, 2n, -1n, 2n ** 64n),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  fc.string({ maxLength: 6 }),
  fc.constantFrom('', '1', '3', '-1', 'NaN', 'float32', 'bfloat16', 'float16', 'cpu', 'cuda', 'auto', 'throw', 'skip', 'sort', 'left'),
  fc.boolean(),
  fc.constantFrom(undefined, null),
  fresh(() => Symbol('fuzz')),
  fc.constant(Symbol.iterator),
);

const typedArrayKinds = [
  Float32Array,
  Float64Array,
  Int32Array,
  Uint32Array,
  Uint16Array,
  Int16Array,
  Uint8Array,
  Int8Array,
  Uint8ClampedArray,
  BigInt64Array,
];

/** A typed array of some kind: in an ArrayBuffer, a SharedArrayBuffer, at an offset, or detached. */
function typedArray(Kind, length, where) {
  const bytes = Kind.BYTES_PER_ELEMENT * (length + 2);
  const buffer = where === 'shared' ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  const view = new Kind(buffer, where === 'offset' ? Kind.BYTES_PER_ELEMENT : 0, length);
  if (where === 'detached') structuredClone(buffer, { transfer: [buffer] });
  return view;
}

const typedArrays = fc
  .record({
    kind: fc.constantFrom(...typedArrayKinds),
    length: fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.integer({ min: 0, max: 64 })),
    where: fc.constantFrom('plain', 'shared', 'offset', 'detached'),
    fill: fc.integer({ min: -3, max: 40 }),
  })
  .map(({ kind, length, where, fill }) => {
    const view = typedArray(kind, length, where);
    if (where !== 'detached') view.fill(kind === BigInt64Array ? BigInt(fill) : fill);
    return view;
  });

// An object every operation on which throws the hostile marker.
function throwingProxy() {
  const trap = () => {
    throw hostileError();
  };
  return new Proxy(
    {},
    { get: trap, has: trap, ownKeys: trap, getPrototypeOf: trap, getOwnPropertyDescriptor: trap, set: trap, apply: trap },
  );
}

// An object whose conversions to a primitive throw (a message that stringifies it runs the caller's code).
function throwingPrimitive() {
  const thrower = () => {
    throw hostileError();
  };
  return { valueOf: thrower, toString: thrower, toJSON: thrower, [Symbol.toPrimitive]: thrower };
}

const lengths = fc.constantFrom(-1, -0, 1.5, NaN, Infinity, 2 ** 31, 2 ** 32, 2 ** 53, 3n, '2', null, undefined);

const objects = fc.oneof(
  fresh(() => ({})),
  fresh(() => []),
  fresh(() => Object.create(null)),
  fresh(() => function fuzz() {}),
  fresh(() => new Date(0)),
  fresh(() => new Map()),
  fresh(() => Promise.resolve(1)),
  fresh(() => new ArrayBuffer(8)),
  fresh(() => new SharedArrayBuffer(8)),
  fresh(() => new DataView(new ArrayBuffer(8))),
  fresh(() => Buffer.from([1, 2, 3])),
  typedArrays,
  fresh(throwingProxy),
  fresh(throwingPrimitive),
  lengths.map((length) => ({ length })),
  fc.array(primitives, { maxLength: 5 }),
  fc.array(fc.array(fc.integer({ min: -2, max: 40 }), { maxLength: 4 }), { maxLength: 4 }),
);

/** Any hostile value: a primitive or an object of some odd kind. */
const hostileValue = fc.oneof({ weight: 3, arbitrary: primitives }, { weight: 2, arbitrary: objects });

function sampleHostile(rng) {
  const value = fc.sample(hostileValue, { seed: rng.seed(), numRuns: 1 })[0];
  return value instanceof Fresh ? value.make() : value;
}

/**
 * A proxy of base that answers each property truthfully the first time it
 * is read and with `later(key, truth)` afterwards: a getter that answers
 * differently on a second read.
 */
function twoFaced(base, later) {
  const reads = new Map();
  return new Proxy(base, {
    get(target, key) {
      const truth = Reflect.get(target, key, target);
      const n = reads.get(key) ?? 0;
      reads.set(key, n + 1);
      return n === 0 ? truth : later(key, truth);
    },
  });
}

/** A proxy that throws the hostile marker on its k-th property read. */
function throwingAt(base, k) {
  let reads = 0;
  return new Proxy(base, {
    get(target, key) {
      if (++reads === k) throw hostileError();
      return Reflect.get(target, key, target);
    },
  });
}

/** An array that grows (or shrinks) while it is read. */
function changingArray(items, rng) {
  const array = items.slice();
  const grow = rng.chance(0.5);
  return new Proxy(array, {
    get(target, key) {
      const value = Reflect.get(target, key);
      if (key !== 'length' && typeof key === 'string') {
        if (grow) target.push(target.length);
        else if (target.length > 0) target.pop();
      }
      return value;
    },
  });
}

/**
 * A corruption of a valid argument: replaced by a hostile value, or kept
 * but made hostile (proxies, getters, holes, odd elements, odd length).
 */
function corrupt(value, rng) {
  const isObject = value !== null && (typeof value === 'object' || typeof value === 'function');
  const choice = rng.int(0, isObject ? 9 : 0);
  switch (choice) {
    case 0:
      return sampleHostile(rng);
    case 1:
      // A proxy that works: reads reach the target as their receiver (a typed array's accessors need that).
      return new Proxy(value, { get: (target, key) => Reflect.get(target, key, target) });
    case 2:
      return twoFaced(value, () => sampleHostile(rng));
    case 3:
      return twoFaced(value, (key, truth) => (typeof truth === 'number' ? truth + rng.pick([1, -1, 1000, 0.5]) : truth));
    case 4:
      return throwingAt(value, rng.int(1, 4));
    case 5:
      if (Array.isArray(value)) return changingArray(value, rng);
      return twoFaced(value, () => undefined);
    case 6: {
      if (!Array.isArray(value)) return sampleHostile(rng);
      const copy = value.slice();
      copy[rng.int(0, Math.max(0, copy.length - 1))] = sampleHostile(rng);
      return copy;
    }
    case 7: {
      if (!Array.isArray(value)) return sampleHostile(rng);
      const copy = value.slice();
      copy.length = rng.pick([copy.length + 3, Math.max(0, copy.length - 1)]);
      return copy;
    }
    case 8: {
      if (!Array.isArray(value) && !ArrayBuffer.isView(value)) return sampleHostile(rng);
      const like = { length: rng.pick([value.length, -1, value.length + 1, 2 ** 32, 1.5, BigInt(value.length)]) };
      for (let i = 0; i < value.length; i++) like[i] = value[i];
      return like;
    }
    default: {
      // An own property shadowing a typed array's accessor, or an extra odd field.
      const target = ArrayBuffer.isView(value) ? value : Object.assign(Array.isArray(value) ? value.slice() : { ...value }, {});
      const key = rng.pick(['length', 'buffer', 'byteOffset', 'subarray', 'constructor', Symbol.toStringTag, 'vocab', 'offsets']);
      try {
        Object.defineProperty(target, key, { value: sampleHostile(rng), configurable: true });
      } catch {
        // not definable on this kind of object: keep it as it is
      }
      return target;
    }
  }
}

/** The value, corrupted with probability p. */
function maybeCorrupt(value, rng, p) {
  return rng.chance(p) ? corrupt(value, rng) : value;
}

module.exports = { Rng, corrupt, maybeCorrupt, sampleHostile, hostileError, isHostileError, hostileValue, typedArray };
