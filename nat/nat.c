/* nat: to be written */
