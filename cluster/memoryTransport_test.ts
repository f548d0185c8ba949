import { MemoryNetwork } from "./memoryTransport.ts";
import { transportSuite } from "./transport.case.ts";

let network = new MemoryNetwork();
let next = 0;
transportSuite({
  name: "memory transport",
  create: ({ env, secret }) => {
    next++;
    return Promise.resolve(network.connect({ id: `10.1.0.${next}:7946`, env, secret }));
  },
  dispose: () => {
    network = new MemoryNetwork();
    return Promise.resolve();
  },
});
