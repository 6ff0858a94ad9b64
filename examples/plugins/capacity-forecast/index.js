// A third-party plugin in plain JavaScript that watches the simulated array. Each tick its observe hook
// samples every container's allocated bytes (one statement); a least-squares line through the last
// hour of samples forecasts when the container fills up. It adds StorageContainer.capacityForecast and
// a capability, example.forecast.minDaysUntilFull, that compliance checks against the forecast.
// Load it with VVOLGRAPH_PLUGINS=./examples/plugins/capacity-forecast/index.js
import { sql } from 'drizzle-orm';
import { definePlugin, resultRows } from 'vvolgraph/plugin';

const MIN_DAYS = 'example.forecast.minDaysUntilFull';
/** Samples kept per container: an hour of one-second ticks. */
const WINDOW = 3600;
const DAY = 86_400;

/**
 * Samples live in this process's memory: a forecast is a view of recent growth, not state that must
 * survive a restart (after one it starts again from the next two ticks).
 */
const samples = new Map(); // containerId -> { capacity, points: [{ t, bytes }] }

/** Growth in bytes per simulated second: the slope of the least-squares line through the samples. */
function slope(points) {
  const n = points.length;
  const meanT = points.reduce((s, p) => s + p.t, 0) / n;
  const meanB = points.reduce((s, p) => s + p.bytes, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - meanT) * (p.bytes - meanB);
    den += (p.t - meanT) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function forecast(containerId) {
  const entry = samples.get(containerId);
  if (!entry || entry.points.length < 2) return null;
  const growth = slope(entry.points);
  const last = entry.points.at(-1);
  const free = Math.max(0, entry.capacity - last.bytes);
  return {
    time: last.t,
    allocatedBytes: last.bytes,
    growthBytesPerDay: growth * DAY,
    // Not growing: it never fills.
    daysUntilFull: growth > 0 ? free / growth / DAY : null,
  };
}

export default definePlugin({
  name: 'capacity-forecast',
  version: '1.0.0',
  vendor: 'Example Corp',
  description: 'When each storage container fills up at its recent rate of growth',
  capabilities: {
    namespace: 'example.forecast',
    // The forecast is this plugin's, not the array's: every container has one.
    everyContainer: true,
    items: [
      { id: MIN_DAYS, name: 'Days until full', summary: 'The VVOL\'s container must not be forecast full sooner than this', valueType: 'INT', unit: 'd', min: 1, max: 3650, lineOfService: 'PERSISTENCE' },
    ],
  },
  schema(builder, refs) {
    const Forecast = builder.objectRef('CapacityForecast').implement({
      description: 'A container\'s recent growth and when it fills up at that rate (capacity-forecast plugin).',
      fields: (t) => ({
        time: t.exposeFloat('time', { description: 'Simulated seconds of the latest sample.' }),
        allocatedBytes: t.exposeFloat('allocatedBytes', { description: 'Bytes written to the container\'s VVOLs.' }),
        growthBytesPerDay: t.exposeFloat('growthBytesPerDay', { description: 'Least-squares growth over the last hour of ticks.' }),
        daysUntilFull: t.float({ nullable: true, description: 'At that growth; null when it is not growing.', resolve: (f) => f.daysUntilFull }),
      }),
    });
    builder.objectField(refs.StorageContainer, 'capacityForecast', (t) =>
      t.field({
        type: Forecast,
        nullable: true,
        description: 'When the container fills up at its recent growth; null until two ticks have been sampled.',
        resolve: (container) => forecast(container.id),
      }),
    );
  },
  hooks: {
    async observe(ctx) {
      const rows = resultRows(await ctx.db.execute(sql`
        select c.id::text as id, c.capacity_bytes::float8 as capacity, coalesce(sum(v.allocated_bytes), 0)::float8 as bytes
        from storage_containers c left join virtual_volumes v on v.container_id = c.id
        group by c.id`));
      const t = ctx.now;
      // Kept once the tick commits: a tick that rolls back never happened, and leaves no sample.
      ctx.work.afterCommit(() => {
        for (const row of rows) {
          const entry = samples.get(row.id) ?? { capacity: row.capacity, points: [] };
          entry.capacity = row.capacity;
          entry.points.push({ t, bytes: row.bytes });
          if (entry.points.length > WINDOW) entry.points.shift();
          samples.set(row.id, entry);
        }
      });
    },
    compliance(_ctx, items) {
      const result = new Map();
      for (const { vvol, rules } of items) {
        const minDays = rules.find((rule) => rule.capabilityId === MIN_DAYS)?.value;
        const days = forecast(vvol.containerId)?.daysUntilFull;
        if (minDays === undefined || days === null || days === undefined || days >= minDays) continue;
        result.set(vvol.id, [{ capabilityId: MIN_DAYS, expected: `>= ${minDays} d`, current: `${days.toFixed(2)} d`, message: `The container is forecast full in ${days.toFixed(2)} days at its recent growth` }]);
      }
      return result;
    },
  },
});
