import type { Plugin } from '../core/plugin.ts';
import ddr from './ddr/index.ts';
import dds from './dds/index.ts';
import ioLoadManager from './io-load-manager/index.ts';
import perforcache from './perforcache/index.ts';
import perforoptimizer from './perforoptimizer/index.ts';
import rdr from './rdr/index.ts';

export const builtInPlugins: Plugin[] = [ioLoadManager, perforoptimizer, perforcache, ddr, rdr, dds];
