/* killswitch: to be written */
