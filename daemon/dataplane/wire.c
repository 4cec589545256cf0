/* wire: to be written */
