/* tool: `sim tool ...`: the simulator's side of each protocol step for given inputs, printed as
 * lowercase hex key=value lines, so a cross-check can compare with `smctl tool` byte by byte. */
#ifndef SIM_TOOL_H
#define SIM_TOOL_H

int sim_tool_main(int argc, char **argv);

#endif
