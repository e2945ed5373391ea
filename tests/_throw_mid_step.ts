/**
 * A script that queues native kernels (2 threads, so they run on the queue's
 * worker) and throws before they finish, from the module or (argument
 * `timer`) from a timer: the uncaught error must be printed and the process
 * exit 1, with no task touching buffers the isolate's teardown freed.
 * native_queue_test.ts runs it as a child process.
 */
import { initBackend } from "../lib/backend/init.ts";
import { experimentSchema } from "../lib/config/schema.ts";
import { trainStep } from "../lib/train/step.ts";
import { createTrainState } from "../lib/train/state.ts";

const config = experimentSchema.parse({
  image: { size: 32 },
  model: { filters: 16 },
  training: { batch_size: 32 },
});
await initBackend("native", { threads: 2 });
const state = createTrainState(config, { level: 5 });
for (let i = 0; i < 3; i++) trainStep(state);
const error = new Error("thrown with kernels queued");
if (Deno.args[0] === "timer") {
  setTimeout(() => {
    throw error;
  });
} else throw error;
