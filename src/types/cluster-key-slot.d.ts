// The slot function ioredis itself uses to route commands in a Redis Cluster (the package ships no types).
declare module 'cluster-key-slot' {
  /** The cluster slot (0–16383) of a key, honouring its hash tag. */
  export default function calculateSlot(key: string): number;
}
